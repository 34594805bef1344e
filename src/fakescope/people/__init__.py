"""Protected people: references enrolled on purpose, and whether a scan's faces and voices
match them (issue 31). Off by default: templates are biometric data (docs/people.md)."""
