"""The jobs of publish (``video_pipeline.publish``), one module each.

- ``objects``: how an object goes on the site (its headers, put, copy, read, stale removal);
- ``site_files``: which work files the page links to, and their copy into the video's folder;
- ``subtitles``: the transcript's subtitle tracks and their cues;
- ``templates`` and ``page``: the video's page; ``site_index``: the page that lists every video;
- ``search``: the video's words and entry in the site's search index;
- ``status``: the catalog item that says the video is published, and who may write it.
"""
