"""TFDS dataset folders of hc-tf (installed as `hc_tf_datasets`)."""
