"""The local `claude` CLI as a provider: argument building and the subprocess run."""
