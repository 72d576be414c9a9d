"""Pieces shared by the UI's tabs: the API client, session state, plots and page assets."""
