"""An entry's files and body map (issue 20): the referral form, the minutes, the email, the
photograph of an injury, on the record with the same guarantees as the entry's text.

`kinds` says what a file is by its content and whether the school takes it; `files` describes,
seals (into the entry's commit, to the entry's recipients) and reads back an entry's files;
`emails` reads an .eml; `compose` adds to a draft what `cpoms add` and `cpoms attach` bring besides
its text (an email, the files to seal).
"""
