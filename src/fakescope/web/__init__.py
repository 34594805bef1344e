"""The in-browser check: a static page that checks photos on the person's own device.

``js/`` holds the page's code (ES modules: the photo flow of ``fakescope scan`` re-done in
JavaScript on onnxruntime-web, and Content Credentials with the C2PA web SDK), ``page/``
its HTML and CSS, ``package.json`` the npm packages it vendors, and ``build.py`` the
``fakescope web-build`` command's work: one folder that opens from disk and from any
server (``fakescope serve`` serves it at ``/check``). See docs/browser.md.
"""
