"""Safe Testing in deployment: an OpenAI-compatible server that always applies the test template, and an export
whose tokenizer chat template applies it by itself."""
