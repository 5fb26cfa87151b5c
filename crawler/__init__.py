"""The Micro Crawler: model, data, training, quantisation and the .ptz artifact format, every module of which
ships with a submission (crawler.shipped); crawler.prep prepares data and does not ship."""
