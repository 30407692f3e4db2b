"""Who may ask what, and how much: model access by plan, daily quotas and monthly
allowances, flood control."""
