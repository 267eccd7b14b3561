"""Event handlers (SQS, SNS, schedules, Step Functions tasks): thin, like api/."""
