"""What the operator sees and does: statistics and reports, the chart, broadcasts, money-leak
watch, alerts, bounds on what admins type."""
