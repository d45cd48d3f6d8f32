"""Hosted checkout: checkout sessions (`cs_…`), their payment page (`/pay/…`) and payment links
(`plink_…`, `/l/…`). docs/checkout.md."""
