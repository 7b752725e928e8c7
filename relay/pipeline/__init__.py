"""The jobs' work: poll Guance into the outbox, deliver the outbox, post Guance replies into
threads; and the crontab schedule that runs them."""
