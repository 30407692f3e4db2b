"""Payments and what they open: invoices and arriving money (YooMoney, SBP, Stars), Stars
subscriptions and their ledger, the outbox, plans (subscriptions), promo codes and referrals."""
