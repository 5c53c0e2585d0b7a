"""An offline visdom server (``python -m tf3dgan.visdom.server``) and its vendored static files."""
