"""What our server-rendered pages share (the payment pages, the dashboard): gettext catalogs
compiled in memory, language negotiation, CSRF tokens, money and Cameroon-time formatting."""
