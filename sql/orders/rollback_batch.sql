-- Rollback (seed 000 "Data Corruption - Rollback", seed 001 section 4): the batch to
-- undo, one row per staged order with the document it created. The batch is chosen by the
-- processor run that applied it (USER_SYNC_LOG.LOG_ID: APPLIED_DT within the START_TIME
-- ..END_TIME of that run), by a window of APPLIED_DT, or by a list of staging ids.
SELECT
    s.STAGING_ID AS staging_id,
    s.WOO_ORDER_ID AS woo_order_id,
    s.APPLIED_DT AS applied_dt,
    h.DOC_ID AS doc_id,
    h.TKT_NO AS tkt_no,
    h.TOT_AMT AS doc_total,
    s.TOT_AMT AS staged_total,
    (SELECT COUNT(*) FROM PS_DOC_LIN AS l WHERE l.DOC_ID = h.DOC_ID) AS line_count
FROM USER_ORDER_STAGING AS s
LEFT JOIN PS_DOC_HDR AS h ON s.CP_DOC_ID = CAST(h.DOC_ID AS TEXT)
WHERE s.IS_APPLIED = 1
{% if inputs.run_id %}
  AND EXISTS (
      SELECT 1 FROM USER_SYNC_LOG AS r
      WHERE r.LOG_ID = {{ inputs.run_id }}
        AND r.OPERATION_TYPE = 'order_processing'
        AND s.APPLIED_DT >= r.START_TIME
        AND s.APPLIED_DT <= r.END_TIME
  )
{% elif inputs.applied_from %}
  AND s.APPLIED_DT >= {{ inputs.applied_from }}
  AND s.APPLIED_DT < {{ inputs.applied_to }}
{% else %}
  AND s.STAGING_ID IN {{ inputs.staging_ids | in_list }}
{% endif %}
ORDER BY s.STAGING_ID;
