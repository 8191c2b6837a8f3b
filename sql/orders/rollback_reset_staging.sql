-- Rollback, step 4 of 4 in one transaction (seed 000 "Reset staging records", seed 001
-- section 4 "How to reset staging record"): the batch staged orders are pending again,
-- with no document, no error and no retries, for the processor to apply once fixed.
UPDATE USER_ORDER_STAGING
SET IS_APPLIED = 0,
    APPLIED_DT = NULL,
    CP_DOC_ID = NULL,
    VALIDATION_ERROR = NULL,
    RETRY_COUNT = 0
WHERE STAGING_ID IN {{ steps.batch.rows | map(attribute='staging_id') | list | in_list }}
  AND IS_APPLIED = 1;
