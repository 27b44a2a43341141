"""The runhistory command line and terminal app."""
