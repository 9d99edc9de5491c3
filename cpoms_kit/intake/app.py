"""The intake's web application (Starlette): enrol, log in, record a concern. No JavaScript.

Pages and their fields: `/enrol` (code, password), `/login` (staff_id, password, totp),
`/totp` (set up a one-time code: secret, totp), `/concern` (see cpoms_kit.intake.forms), `/logout`.
Each form carries `csrf_token`; a POST without the right one is refused with 403 and nothing is
read or written. A recorded concern is answered with a redirect to `/recorded`, a page shown once
whose `[data-entry-id]` holds the new entry's id and nothing of what was written; a reload shows an
empty form, and a form sent twice (its one-time `form_id`) is recorded once.

Access is checked on every request against the credentials (a reset ends it) and against the
staff roster as the intake's clone has it (`cpoms staff remove` ends it): someone who left, or is
no longer marked `intake`, is logged out on their next click. The clone fetches the school's
remote at most every REFRESH seconds, before a page that needs the roster.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from cpoms_kit.errors import CpomsError, InputError
from cpoms_kit.intake import forms, identity
from cpoms_kit.intake.credentials import Credentials
from cpoms_kit.intake.logins import CredentialError, Locked, TotpSetupRequired, qr_svg
from cpoms_kit.intake.submit import IntakeStore, check
from cpoms_kit.intake.writer import Writer
from cpoms_kit.store.repository import Store
from cpoms_kit.intake.web import PRE_COOKIE, SESSION_COOKIE, Guard, SecureHeaders

HERE = Path(__file__).parent
REFRESH = 30.0  # seconds between fetches of the school's remote (roster changes, other machines' entries)
TOTP_SETUP_SECONDS = 600
SENT_KEPT = 50_000  # form ids remembered (a school's concerns for years); the oldest forgotten first


@dataclass
class Intake:
    """What every request shares: the records (as the intake sees them), its key, the credentials."""

    store: IntakeStore
    writer: Writer
    creds: Credentials
    guard: Guard
    templates: Jinja2Templates
    fetched: float = 0.0
    fetching: threading.Lock = field(default_factory=threading.Lock)
    # Each form shown carries a one-time `form_id`: a form sent again (reload, Back and "Continue")
    # records nothing twice. form_id -> the entry it recorded ("" while it is being recorded).
    sent: dict[str, str] = field(default_factory=dict)
    # What the "Recorded" page shows, once, by session: the answer to the POST is a redirect to it.
    outcomes: dict[str, Any] = field(default_factory=dict)
    guarding: threading.Lock = field(default_factory=threading.Lock)

    def claim(self, form_id: str) -> str | None:
        """Reserve `form_id` for recording; the entry it already recorded (or "") if it was sent before."""
        with self.guarding:
            if form_id in self.sent:
                return self.sent[form_id]
            self.sent[form_id] = ""
            while len(self.sent) > SENT_KEPT:
                del self.sent[next(iter(self.sent))]
            return None

    def settle(self, form_id: str, entry_id: str | None) -> None:
        with self.guarding:
            if entry_id is None:
                self.sent.pop(form_id, None)  # refused: the person corrects it and sends it again
            else:
                self.sent[form_id] = entry_id

    def refresh(self) -> None:
        """Fetch and fast-forward from the school's remote, at most every REFRESH seconds: a
        roster change made on a DSL's machine reaches the intake within that. One request
        fetches; the others meanwhile go on with what the clone has."""
        if time.monotonic() - self.fetched < REFRESH or not self.fetching.acquire(blocking=False):
            return
        from cpoms_kit.store.pushing import refresh

        try:
            self.fetched = time.monotonic()
            fetched = refresh(self.store)
        finally:
            self.fetching.release()
        if fetched.warning:
            self.store.warn(fetched.warning)

    def who(self, request: Request) -> str | None:
        """The logged-in staff id, or None (no session, idle too long, reset, or no longer allowed)."""
        token = request.cookies.get(SESSION_COOKIE)
        staff_id = self.creds.session(token) if token else None
        if staff_id is None:
            return None
        member = self.store.staff().get(staff_id)
        if member is None or not member.active or not member.intake:
            self.creds.end_all(staff_id)  # left, or the intake was taken from them: at once
            return None
        return staff_id


def create_app(root: Path, home: Path, *, tls: bool = False, require_totp: bool | None = None,
               clock: Callable[[], datetime] | None = None) -> Starlette:
    """The application for the records repository at `root`, its credentials in `home`. Refuses
    (InputError) when this keyring does not hold the intake's key, or holds a DSL's as well."""
    from cpoms_kit.audit.sync import sync

    store = IntakeStore(root)
    # A push the remote refused (another machine pushed first): replay this clone's commits on
    # the remote's and push, as every command does (cpoms_kit.cli.common).
    def integrate(s: Store, remote: str, timeout: float) -> None:
        sync(s, remote, timeout=timeout)

    store.integrate = integrate
    member = identity.find(store)
    if require_totp is None:
        require_totp = bool(store.config.section("intake").get("require_totp", False))
    creds = Credentials(home, clock or store.now, require_totp=require_totp,
                        issuer=f"cpoms intake ({store.config.school})" if store.config.school else "cpoms intake")
    import jinja2

    templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                                       autoescape=True))
    templates.env.globals["school"] = store.config.school
    app = Intake(store, Writer(store, member), creds, Guard(tls), templates)
    routes = [
        Route("/", lambda request: RedirectResponse("/concern", 303)),
        Route("/enrol", _endpoint(app, enrol), methods=["GET", "POST"]),
        Route("/login", _endpoint(app, login), methods=["GET", "POST"]),
        Route("/totp", _endpoint(app, totp), methods=["GET", "POST"]),
        Route("/logout", _endpoint(app, logout), methods=["POST"]),
        Route("/concern", _endpoint(app, concern), methods=["GET", "POST"]),
        Route("/recorded", _endpoint(app, recorded), methods=["GET"]),
        Route("/healthz", lambda request: PlainTextResponse("ok")),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    web = Starlette(routes=routes)
    web.state.intake = app
    return SecureHeaders(web, tls)  # type: ignore[return-value]


def _endpoint(app: Intake, handler: Callable[..., Any]) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        form = None
        if request.method == "POST":
            form = await request.form(max_files=0, max_fields=200)
            if not app.guard.csrf_ok(request, str(form.get("csrf_token") or "")):
                return PlainTextResponse("This form has expired or did not come from this page: go back, reload "
                                         "it and send it again.", status_code=403)
        return await run_in_threadpool(handler, app, request, form)

    return endpoint


def page(app: Intake, request: Request, template: str, status: int = 200, **context: Any) -> Response:
    pre = app.guard.pre_cookie(request) if not request.cookies.get(SESSION_COOKIE) else None
    context.setdefault("csrf_token", app.guard.csrf(request, pre))
    response = app.templates.TemplateResponse(request, template, context, status_code=status)
    if pre:
        app.guard.set_cookie(response, PRE_COOKIE, pre)
    return response


def _to_login(message: str = "") -> Response:
    return RedirectResponse("/login" + ("?ended=1" if message else ""), 303)


# -- pages -------------------------------------------------------------------------------------
def enrol(app: Intake, request: Request, form: Any) -> Response:
    if form is None:
        return page(app, request, "enrol.html", code=request.query_params.get("code", ""))
    code, password = str(form.get("code") or ""), str(form.get("password") or "")
    try:
        staff_id = app.creds.enrol(code, password)
    except CredentialError as exc:
        return page(app, request, "enrol.html", 400, code=code, error=exc.message)
    return page(app, request, "login.html", staff_id=staff_id,
                notice="Your password is set. Log in with your staff id and the password you chose.")


def login(app: Intake, request: Request, form: Any) -> Response:
    if form is None:
        ended = "Your session ended. Log in again." if request.query_params.get("ended") else ""
        return page(app, request, "login.html", notice=ended, staff_id="")
    staff_id = str(form.get("staff_id") or "").strip()
    address = request.client.host if request.client else "unknown"
    try:
        app.refresh()
        member = app.store.staff().get(staff_id)
        if member is not None and not (member.active and member.intake):
            app.creds.reset(staff_id)  # left, or no longer allowed: nothing of theirs stays usable
        token = app.creds.login(staff_id, str(form.get("password") or ""), str(form.get("totp") or ""), address)
    except TotpSetupRequired as exc:
        return _totp_page(app, request, exc.staff_id, app.guard.signed(exc.staff_id, TOTP_SETUP_SECONDS))
    except Locked as exc:
        if exc.newly:
            _alert_locked(app, exc)
        return page(app, request, "login.html", 429, error=exc.message, staff_id=staff_id)
    except CredentialError as exc:
        return page(app, request, "login.html", 400, error=exc.message, staff_id=staff_id)
    response = RedirectResponse("/concern", 303)
    app.guard.set_cookie(response, SESSION_COOKIE, token)
    app.guard.clear_cookie(response, PRE_COOKIE)
    return response


def _alert_locked(app: Intake, locked: Locked) -> None:
    """Tell the DSL team an account or an address was locked (who, never a password tried)."""
    from cpoms_kit.policy.alerts.reminders import send_intake_locked

    for lock in locked.new_locks:  # one attempt may lock the account and the address together
        try:
            send_intake_locked(app.store, app.store.now(), lock.kind, lock.subject)
        except CpomsError as exc:  # the lock holds whatever the alert does
            app.store.warn(f"the intake locked {lock.kind} {lock.subject}, and the alert failed: {exc.message}")


def _totp_page(app: Intake, request: Request, staff_id: str, setup: str = "", error: str = "",
               status: int = 200) -> Response:
    begun = app.creds.totp_begin(staff_id)
    return page(app, request, "totp.html", status, staff_id=staff_id, secret=begun.secret, qr=qr_svg(begun.uri),
                setup=setup, error=error)


def totp(app: Intake, request: Request, form: Any) -> Response:
    me = app.who(request)
    if form is None:
        return _totp_page(app, request, me) if me else _to_login()
    setup = str(form.get("setup") or "")
    staff_id = me or (app.guard.unsigned(setup) if setup else None)
    if staff_id is None:
        return _to_login("ended")
    try:
        app.creds.totp_confirm(staff_id, str(form.get("secret") or ""), str(form.get("totp") or ""))
    except CredentialError as exc:
        return _totp_page(app, request, staff_id, setup, exc.message, 400)
    if me:
        return RedirectResponse("/concern?totp=1", 303)
    return page(app, request, "login.html", staff_id=staff_id,
                notice="Your authenticator app is set up. Log in with your password and its current code.")


def logout(app: Intake, request: Request, form: Any) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        app.creds.end_session(token)
    response = RedirectResponse("/login", 303)
    app.guard.clear_cookie(response, SESSION_COOKIE)
    return response


def concern(app: Intake, request: Request, form: Any) -> Response:
    me = app.who(request)
    if me is None:
        return _to_login("ended" if request.cookies.get(SESSION_COOKIE) else "")
    app.refresh()
    if form is None:
        follows = request.query_params.get("follows", "")
        return _concern_page(app, request, me, forms.Concern(follows=follows, type="check-in" if follows else "concern"),
                             notice="Your authenticator app is set up." if request.query_params.get("totp") else "")
    fields = forms.concern_of(form)
    if fields.form_id and app.sent.get(fields.form_id):
        return _already_sent(app, request, me, app.sent[fields.form_id])  # Back and "Continue" after recording
    if form.get("action") == "search":
        return _concern_page(app, request, me, fields, query=str(form.get("q") or ""))
    from cpoms_kit.policy.lint import accept, lint_entry

    try:
        entry = check(app.store, fields, me)
        report = lint_entry(app.store, entry)
    except InputError as exc:
        return _concern_page(app, request, me, fields, error=exc.message, status=400)
    if report.findings and form.get("confirm") != "yes":
        return _concern_page(app, request, me, fields, findings=report.findings, status=200)
    before = app.claim(fields.form_id) if fields.form_id else None
    if before is not None:
        return _already_sent(app, request, me, before)
    recorded_id = None
    try:
        done = app.writer.submit(accept(entry, report.findings))
        recorded_id = done.id
    except InputError as exc:
        return _concern_page(app, request, me, fields, error=exc.message, status=400)
    finally:
        if fields.form_id:
            app.settle(fields.form_id, recorded_id)
    # Post/redirect/get: a reload of the answer asks for /recorded again, never sends the concern again.
    app.outcomes[request.cookies.get(SESSION_COOKIE, "")] = done
    return RedirectResponse("/recorded", 303)


def _already_sent(app: Intake, request: Request, me: str, entry_id: str) -> Response:
    """A form sent again after it was recorded: nothing recorded twice, nothing of it shown again."""
    said = f" (reference {entry_id})" if entry_id else " (it is being recorded now)"
    return _concern_page(app, request, me, forms.Concern(), status=409,
                         notice=f"That concern was already sent, and is recorded once{said}. This is a new, empty form.")


def recorded(app: Intake, request: Request, form: Any) -> Response:
    """The answer to a recorded concern, shown once: its reference and whether the team was alerted."""
    me = app.who(request)
    if me is None:
        return _to_login("ended" if request.cookies.get(SESSION_COOKIE) else "")
    done = app.outcomes.pop(request.cookies.get(SESSION_COOKIE, ""), None)
    if done is None:
        return RedirectResponse("/concern", 303)
    return page(app, request, "recorded.html", entry_id=done.id, alerted=done.alerted, pushed=done.pushed,
                me=app.store.staff()[me])


def _concern_page(app: Intake, request: Request, me: str, fields: forms.Concern, *, query: str = "",
                  error: str = "", notice: str = "", findings: list | None = None, status: int = 200) -> Response:
    directory = app.store.pupil_directory()
    chosen = [(directory[pid], role) for pid, role in fields.pupils if pid in directory]
    found = [p for p in forms.search(directory, query) if p.id not in {c.id for c, _ in chosen}]
    member = app.store.staff()[me]
    if not fields.form_id:
        fields = replace(fields, form_id=secrets.token_urlsafe(16))
    return page(app, request, "concern.html", status, me=member, fields=fields, chosen=chosen, found=found,
                query=query, searched=bool(query.strip()), error=error, notice=notice, findings=findings or [],
                choices=forms.choices(app.store, me), now=app.store.now().strftime("%Y-%m-%dT%H:%M"))
