"""Running unattended: JSON-lines logs (and, beside the code, the service definitions in
``packaging/service/`` and ``docs/operations.md``)."""
