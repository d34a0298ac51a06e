"""Model runtime (onnxruntime), model registry and artifacts, example training, hot reload, scorer agents."""
