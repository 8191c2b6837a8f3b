-- Rollback, step 3 of 4 in one transaction (seed 000 "Delete orders from CounterPoint"):
-- the batch document headers, once their lines are gone.
DELETE FROM PS_DOC_HDR
WHERE DOC_ID IN {{ steps.batch.rows | map(attribute='doc_id') | select | list | in_list }};
