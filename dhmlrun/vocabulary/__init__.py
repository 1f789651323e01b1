"""The words dhmlrun and the platform share, each defined once and imported everywhere.

One module per concept: run and material states and their classes (`states`), the store keys
of entities (`keys`), the mask of sensitive values (`mask`), timestamps (`times`), process
liveness (`processes`) and the defaults of a declared run (`defaults`). They import nothing
heavier than the standard library, so any module (the CLI's fast paths included) may use them.
"""
