"""The staff intake (`cpoms serve`): a write-only web form for staff without keys.

It holds a signing key of its own and the team's public keys, never a key that can read an entry:
each concern is encrypted to `recipients_for(entry)` as `cpoms add` does, committed signed by the
intake in the name of whoever logged in, pushed and alerted.

- `identity`: the intake's key (`cpoms intake init`), finding it, the intake's own folder.
- `credentials`: staff logins, kept with the intake (Argon2id passwords, TOTP, enrolment codes,
  sessions, lock-outs), never in the records repository; `logins`: what they are made of (the
  password rule, enrolment codes, the errors a log-in raises).
- `submit`: a form's concern to a validated entry (the pupil directory for the roster).
- `writer`: the one writer: each concern its own signed commit, a batch pushed once, alerts side by side.
- `forms`: the concern form's fields, pupil search, what the page offers.
- `web`: response headers, cookies and CSRF tokens.
- `app`: the Starlette application and its pages (`templates/`, `static/`).
- `server`: `cpoms serve` under uvicorn; refuses a non-loopback address without TLS.
"""
