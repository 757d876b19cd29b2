"""The `biblioduck` command line (`cli.main`): what a person types, turned into flows and reads.
Nothing here loads or fetches by itself."""
