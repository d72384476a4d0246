"""VAE-based regularisation of deep speaker embeddings (Zhang, Li, Wang, Interspeech 2019).

TensorFlow 1.x style research code (graph mode through ``tf.compat.v1``):

* ``model.config``  -- ModelConfig and the model directory's config.json
* ``model.vae``     -- graph construction and the loss functions
* ``model.train``   -- ``python -m model.train``: train vae / cvae / ae models
* ``model.extract`` -- ``python -m model.extract``: write code means mu(x) as embeddings
"""
