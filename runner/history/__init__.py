"""What is kept between runs: the state store (SQLite, or PostgreSQL shared by hosts), its
tables and migrations, and the locks that keep one run of a runbook at a time."""
