"""The state store's tables, and the migrations that make them: a store of any earlier
version is brought up to date when it is opened, one migration per transaction.

runs (one row per run; inserted with outcome 'running' when it starts, so a run
whose process died stays visible)
    run_id TEXT PRIMARY KEY   sortable by time: 20261124T091500Z-ab12cd
    runbook, title, kind      the runbook's name, title, kind
    status                    OK | WARNING | CRITICAL | UNKNOWN; NULL while running
    outcome                   running | completed | aborted | skipped | refused | invalid
                              | abandoned (its process died: runner/history/reconcile.py)
    mode                      run | dry-run | rehearse
    trigger                   manual | schedule | runbook | ...
    inputs_json               the inputs, masked, as JSON
    user, host, pid           who ran it, where, which process
    started, ended            ISO-8601 UTC text: 2026-11-24T09:15:00.123456Z
    duration                  seconds (REAL)
    error, path               why the run failed as a whole; the runbook file
    seen                      when the run was last known alive (its start, then each
                              step's start, at most every few seconds); NULL before
                              migration 5
    slot                      the schedule slot a run of `runbook scheduler` was for
                              (trigger schedule or catchup), UTC text; NULL for other
                              runs and before migration 7

step_results (one row per step; for_each items, groups and checks are children)
    run_id, seq               seq numbers a run's steps 1.. in execution-tree order
    parent_seq                the seq of the enclosing step; NULL for top-level steps
    step_id, title, action    action: sql | http | command | check | runbook | ...
    status, outcome, started, duration, error, hint
    values_json               the step's result values (at most 100 `rows`; when cut,
                              rows_truncated = 1 and rows_total = how many there were)
    evaluations_json          thresholds and asserts: name, status, text, value, ...
    attempts_json, attempts   every attempt (number, started, duration, outcome,
                              error) and how many there were
    item_json                 the for_each item a child ran for
    items_json                a for_each's items counted (engine/items.py); NULL for
                              other steps and before migration 6
    statement_json            what a SQL step sent: {connection, sql (placeholders),
                              params (bound values, masked; at most 50, params_total
                              when cut), file} (engine/sent.py); NULL for other steps,
                              a dry run, and before migration 12

runs_summary (a view: one row per runbook, real runs only, dry runs and rehearsals
left out)
    runbook, runs, last_run_id, last_started, last_ended, last_status, last_outcome,
    last_success            when the last run with status OK ended
    minutes_since_success   NULL when it never succeeded
    last_finished           when the last run that ran to its end (any status) ended;
                            skipped, refused and aborted runs do not count
    minutes_since_finished

    SELECT minutes_since_success AS minutes FROM runs_summary WHERE runbook = ?

alert_state (what people were told, per runbook and per step that routes its own
alerts; see runner/alerts/decide.py)
    runbook, subject          subject '' is the runbook as a whole, else a step id
    status                    the status of the last real run
    announced                 the severity last announced; NULL: no open incident
    bad_since, critical_since first bad / CRITICAL run of the current streak
    opened, last_sent         when the incident was announced, and last told again
    escalated                 1 once the incident was escalated
    streak, recent_json       bad runs in a row; the last statuses (for "N of M")
    last_run_id, updated      the run that last changed the row, and when
    failing_json              the failing steps the last message named (JSON list);
                              NULL in rows kept before migration 3: not known

deliveries (every notification sent or failed: alerts, notify steps, notify-test)
    id, run_id, runbook       run_id NULL for `runbook notify-test`
    subject, kind             kind: new | worse | better | spread | repeat |
                              escalation | recovered | retried | message | test | claim
    status, tags, title       the severity announced, the tags it went to, its title
    url                       the service URL, masked (no token or password)
    ok, error, attempts       1 when the service accepted it; why not; tries made
    at, duration              when it was sent (UTC text), seconds it took

claims (one row per schedule slot a `runbook scheduler` took: history/claims.py)
    runbook, slot             the primary key: a second scheduler's insert of the same
                              slot goes nowhere, so only one runs it; slot is UTC text
    host, pid                 the scheduler that claimed it
    claimed                   when (UTC text); the scheduler deletes, hourly, the rows
                              of slots older than its longest catch-up window + 1h
    started                   when the claimant recorded the start of the slot's run, in
                              the transaction of that record (UTC text); NULL until then,
                              and before migration 9. A claim whose run started is never
                              taken over

maintenance (the store's own upkeep, see StateStore.prune and the SQLite quick_check)
    task                      prune | quick_check
    done                      when it last ran (UTC text)

schema_version (version INTEGER PRIMARY KEY, applied TEXT): the migrations applied.
"""

from __future__ import annotations

from runner.history.backends import Backend

# Each migration is applied in one transaction; append, never edit a released one.
# The DDL is formatted with the backend's words ({text}, {real}, ...): SQLite gets the
# same schema it always had, PostgreSQL its own types and time arithmetic.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: runs, their step results, and a summary for "last success" checks
        """
        CREATE TABLE runs (
            run_id      {text} PRIMARY KEY,
            runbook     {text} NOT NULL,
            title       {text},
            kind        {text},
            status      {text},
            outcome     {text} NOT NULL,
            mode        {text} NOT NULL DEFAULT 'run',
            trigger     {text},
            inputs_json {text},
            "user"      {text},
            host        {text},
            pid         INTEGER,
            started     {text} NOT NULL,
            ended       {text},
            duration    {real},
            error       {text},
            path        {text}
        )
        """,
        "CREATE INDEX idx_runs_runbook_started ON runs (runbook, started)",
        "CREATE INDEX idx_runs_started ON runs (started)",
        """
        CREATE TABLE step_results (
            run_id           {text} NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
            seq              INTEGER NOT NULL,
            parent_seq       INTEGER,
            step_id          {text} NOT NULL,
            title            {text},
            action           {text},
            status           {text},
            outcome          {text},
            started          {text},
            duration         {real},
            values_json      {text},
            evaluations_json {text},
            attempts_json    {text},
            attempts         INTEGER NOT NULL DEFAULT 0,
            error            {text},
            hint             {text},
            item_json        {text},
            PRIMARY KEY (run_id, seq)
        )
        """,
        """
        CREATE VIEW runs_summary AS
        WITH real_runs AS (SELECT * FROM runs WHERE mode = 'run'),
        latest AS (
            SELECT runbook, COUNT(*) AS runs, MAX(started) AS started
            FROM real_runs GROUP BY runbook
        ),
        success AS (
            SELECT runbook, MAX(ended) AS ended FROM real_runs
            WHERE status = 'OK' AND outcome = 'completed' GROUP BY runbook
        ),
        finished AS (
            SELECT runbook, MAX(ended) AS ended FROM real_runs
            WHERE outcome = 'completed' GROUP BY runbook
        )
        SELECT
            latest.runbook AS runbook,
            latest.runs AS runs,
            last.run_id AS last_run_id,
            last.started AS last_started,
            last.ended AS last_ended,
            last.status AS last_status,
            last.outcome AS last_outcome,
            success.ended AS last_success,
            {minutes_since_success} AS minutes_since_success,
            finished.ended AS last_finished,
            {minutes_since_finished} AS minutes_since_finished
        FROM latest
        JOIN real_runs AS last ON last.runbook = latest.runbook AND last.started = latest.started
        LEFT JOIN success ON success.runbook = latest.runbook
        LEFT JOIN finished ON finished.runbook = latest.runbook
        """,
    ),
    (  # 2: alert state per runbook and per alerting step, and every notification delivery
        """
        CREATE TABLE alert_state (
            runbook        {text} NOT NULL,
            subject        {text} NOT NULL,
            status         {text} NOT NULL,
            announced      {text},
            bad_since      {text},
            critical_since {text},
            opened         {text},
            last_sent      {text},
            escalated      INTEGER NOT NULL DEFAULT 0,
            streak         INTEGER NOT NULL DEFAULT 0,
            recent_json    {text},
            last_run_id    {text},
            updated        {text} NOT NULL,
            PRIMARY KEY (runbook, subject)
        )
        """,
        """
        CREATE TABLE deliveries (
            id        {serial_key},
            run_id    {text},
            runbook   {text},
            subject   {text},
            kind      {text} NOT NULL,
            status    {text},
            tags      {text},
            url       {text},
            ok        INTEGER NOT NULL,
            error     {text},
            attempts  INTEGER NOT NULL DEFAULT 0,
            title     {text},
            at        {text} NOT NULL,
            duration  {real}
        )
        """,
        "CREATE INDEX idx_deliveries_run ON deliveries (run_id)",
        "CREATE INDEX idx_deliveries_runbook_at ON deliveries (runbook, at)",
    ),
    (  # 3: the failing steps people were told about, so a newly failing one is news
        "ALTER TABLE alert_state ADD COLUMN failing_json {text}",
    ),
    (  # 4: when the store was last pruned and (SQLite) checked, so both run at most daily
        "CREATE TABLE maintenance (task {text} PRIMARY KEY, done {text} NOT NULL)",
    ),
    (  # 5: when a run was last seen alive, so a run whose process died says when
        "ALTER TABLE runs ADD COLUMN seen {text}",
    ),
    (  # 6: a for_each's items counted, with what is left of the OK ones it did not keep
        "ALTER TABLE step_results ADD COLUMN items_json {text}",
    ),
    (  # 7: the schedule slot a run was for, so a scheduler knows which slots it missed
        "ALTER TABLE runs ADD COLUMN slot {text}",
        "CREATE INDEX idx_runs_runbook_slot ON runs (runbook, slot)",
    ),
    (  # 8: one claim per schedule slot, so schedulers sharing a store run each slot once
        """
        CREATE TABLE claims (
            runbook {text} NOT NULL,
            slot    {text} NOT NULL,
            host    {text} NOT NULL,
            pid     INTEGER,
            claimed {text} NOT NULL,
            PRIMARY KEY (runbook, slot)
        )
        """,
        "CREATE INDEX idx_claims_slot ON claims (slot)",
    ),
    (  # 9: when a claim's run started, so a claim is never taken over once its run began
        "ALTER TABLE claims ADD COLUMN started {text}",
    ),
    (  # 10: what `runbook status` reads, found by indexes alone: each runbook's newest
        # real runs (StateStore.last_runs), and the runs still going (reconcile; a partial
        # index: only those rows are in it, instead of a scan of every run)
        "CREATE INDEX idx_runs_newest ON runs (runbook, mode, started, run_id, outcome)",
        "CREATE INDEX idx_runs_running ON runs (outcome) WHERE outcome = 'running'",
    ),
    (  # 11: every run newest first (the dashboard's history, StateStore.history_page),
        # read in index order a page at a time: idx_runs_started alone left run_id to a
        # sort of every run
        "CREATE INDEX idx_runs_started_id ON runs (started, run_id)",
    ),
    (  # 12: what a SQL step sent (its statement and bound values, masked and cut), for
        # the run page: kept only for the steps a run keeps in full. And idx_runs_started
        # goes: idx_runs_started_id (11) leads with the same column, so every read by start
        # time has it; no query needs the narrower one (EXPLAIN on SQLite and PostgreSQL),
        # which PostgreSQL preferred only to sort its rows again. One migration, not two:
        # each is a transaction whose pages wait in a new SQLite store's WAL until its
        # first checkpoint (tests/test_store_faults.py runs on a 512 KB file system)
        "ALTER TABLE step_results ADD COLUMN statement_json {text}",
        "DROP INDEX IF EXISTS idx_runs_started",
    ),
)

#: The schema version this code writes; a newer store is refused.
SCHEMA_VERSION = len(MIGRATIONS)


def current_version(db: Backend) -> int:
    if not db.has_table("schema_version"):
        return 0
    rows = db.query("SELECT COALESCE(MAX(version), 0) AS version FROM schema_version")
    return int(rows[0]["version"])
