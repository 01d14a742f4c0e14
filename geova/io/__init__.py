"""File-format adapters: read users' files into validated, canonical tables; write exports."""
