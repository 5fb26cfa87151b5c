"""The Micro Crawler: model, data, training, quantisation and the .ptz artifact format."""
