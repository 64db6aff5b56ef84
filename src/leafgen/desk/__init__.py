"""The clinic desk: a web page where staff find, preview, personalise, print and email a leaflet (`leafgen serve`)."""
