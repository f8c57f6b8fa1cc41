"""The workstation's dialogs: confirmations, parameters, settings."""
