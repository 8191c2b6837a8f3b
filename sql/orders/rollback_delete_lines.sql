-- Rollback, step 2 of 4 in one transaction (seed 000 "Delete orders from CounterPoint",
-- seed 001 section 4 "How to delete order from CounterPoint"): the batch document lines.
DELETE FROM PS_DOC_LIN
WHERE DOC_ID IN {{ steps.batch.rows | map(attribute='doc_id') | select | list | in_list }};
