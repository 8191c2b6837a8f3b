-- Rollback, the check before commit (seed 001 section 4): what is left of the batch.
-- Every count is 0 once the documents are deleted and the staging rows are pending.
SELECT
    (SELECT COUNT(*) FROM PS_DOC_HDR
      WHERE DOC_ID IN {{ steps.batch.rows | map(attribute='doc_id') | select | list | in_list }}
    ) AS headers_left,
    (SELECT COUNT(*) FROM PS_DOC_LIN
      WHERE DOC_ID IN {{ steps.batch.rows | map(attribute='doc_id') | select | list | in_list }}
    ) AS lines_left,
    (SELECT COUNT(*) FROM USER_ORDER_STAGING
      WHERE STAGING_ID IN {{ steps.batch.rows | map(attribute='staging_id') | list | in_list }}
        AND (IS_APPLIED <> 0 OR CP_DOC_ID IS NOT NULL)
    ) AS staging_still_applied;
