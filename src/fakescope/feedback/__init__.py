"""What a deployment learns from its reviewers (issue 30): local thresholds fitted on the
reviewed scans (``calibrate``), kept as numbered versions beside the data (``versions``)
and applied on top of the bundled fusion card by every scanner that is given the folder."""
