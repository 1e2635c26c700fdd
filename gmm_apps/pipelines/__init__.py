"""Built-in pipelines, one package each."""
