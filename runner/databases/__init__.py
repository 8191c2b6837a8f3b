"""The databases a run talks to: its connections (SQLite, ODBC and the watchdog that
cancels statements) and the embedded demo databases."""
