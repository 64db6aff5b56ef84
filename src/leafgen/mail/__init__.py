"""Stage 5, mail: addresses, recipients, messages, the exactly-once journal, SMTP, sending a batch."""
