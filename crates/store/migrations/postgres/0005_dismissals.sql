-- Why an alert was dismissed (Threat Stack's `dismissReason` and its text); NULL when resolved otherwise.
ALTER TABLE alerts ADD COLUMN dismiss_reason TEXT;
ALTER TABLE alerts ADD COLUMN dismiss_reason_text TEXT;
