"""The window's evidence views (issue 11): the track record in the candidate detail, the change
preview in the parameter editor, the drift and human-edge panel. They show what
:mod:`workstation.research.evidence` computes, through its :class:`EvidenceService`, and never
wait for it on the Qt loop."""
