-- Rollback, step 1 of 4 in one transaction (seed 000 "Rollback inventory updates"):
-- release what the batch document lines reserved, QTY_ON_SO minus their quantities.
UPDATE IM_INV
SET QTY_ON_SO = QTY_ON_SO - (
    SELECT SUM(l.QTY_SOLD)
    FROM PS_DOC_LIN AS l
    WHERE l.ITEM_NO = IM_INV.ITEM_NO
      AND l.DOC_ID IN {{ steps.batch.rows | map(attribute='doc_id') | select | list | in_list }}
)
WHERE LOC_ID = {{ inputs.location }}
  AND ITEM_NO IN (
      SELECT l.ITEM_NO
      FROM PS_DOC_LIN AS l
      WHERE l.DOC_ID IN {{ steps.batch.rows | map(attribute='doc_id') | select | list | in_list }}
  );
