"""The workstation window's dock panels, one module each."""
