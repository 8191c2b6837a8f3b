-- Rollback (seed 000 "Rollback inventory updates", seed 001 section 4 "How to restore
-- inventory (QTY_ON_SO)"): for each item on the batch document lines, the quantity
-- reserved now, the batch share of it, and what QTY_ON_SO was before the batch.
-- The documents are those of the batch step (rollback_batch.sql), bound as parameters.
SELECT
    i.ITEM_NO AS item_no,
    i.LOC_ID AS loc_id,
    i.QTY_ON_SO AS qty_on_so,
    b.BATCH_QTY AS batch_qty,
    i.QTY_ON_SO - b.BATCH_QTY AS qty_before_batch
FROM IM_INV AS i
INNER JOIN (
    SELECT l.ITEM_NO, SUM(l.QTY_SOLD) AS BATCH_QTY
    FROM PS_DOC_LIN AS l
    WHERE l.DOC_ID IN {{ steps.batch.rows | map(attribute='doc_id') | select | list | in_list }}
    GROUP BY l.ITEM_NO
) AS b ON b.ITEM_NO = i.ITEM_NO
WHERE i.LOC_ID = {{ inputs.location }}
ORDER BY i.ITEM_NO;
