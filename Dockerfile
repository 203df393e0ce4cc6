# chachong HTTP service: the same as `make run` (chachong serve on the bundled template corpus),
# listening on all interfaces of the container, with the reference store in the /data volume.
#
#   docker build -t chachong .
#   docker run -p 8000:8000 -e CHACHONG_API_KEYS=change-me -v chachong-data:/data chachong
#
# Settings are the CHACHONG_* environment variables (see app/settings.py); other flags of
# `chachong serve` (--workers, --corpus) can be given by replacing the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src

# 0. What the service needs from Debian: Pango and a CJK font for PDF reports (WeasyPrint lays
#    pages out with Pango; fontconfig finds the font), LibreOffice's Writer core for
#    .doc/.wps/.odt/.rtf (no GUI, no Java), the GL and GLib libraries OpenCV loads for OCR,
#    libseccomp for the sandbox that keeps converters off the network.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
        fontconfig fonts-wqy-zenhei libreoffice-writer-nogui libgl1 libglib2.0-0 libseccomp2 \
    && rm -rf /var/lib/apt/lists/*

# 1. Dependencies, in a layer of their own: only pyproject.toml, the README it names and an empty
#    package skeleton, so editing the source does not reinstall numpy, jieba, OpenCC and the rest.
#    The OCR extra brings RapidOCR with its Chinese models inside the wheel (OCR stays off until
#    CHACHONG_OCR=true).
COPY pyproject.toml README.md ./
COPY app/__init__.py app/__init__.py
COPY reference_corpus/__init__.py reference_corpus/__init__.py
RUN pip install ".[ocr]" \
    && rm -rf build *.egg-info

# 2. The project itself (with the bundled reference_corpus as package data), without touching
#    the dependencies installed above.
COPY app/ app/
COPY reference_corpus/ reference_corpus/
#    A real check, run from outside the source tree, proves the installed package carries its
#    data files (corpus, stock phrases, templates, web pages) and that a PDF report can be made
#    with the Chinese text in it; a file or a system library missing fails here.
RUN pip install --no-deps --force-reinstall ".[ocr]" \
    && rm -rf build *.egg-info \
    && cd / && python -c "from app.core import bundled_corpus_dir, build_index, check_text, \
load_corpus; from app.reports.pdf import render_pdf; from app.web.render import STATIC, \
TEMPLATES; corpus = bundled_corpus_dir(); index = build_index(load_corpus(corpus)); \
text = (corpus / 'minzheng-ju.txt').read_text(encoding='utf-8'); result = check_text(text, index); \
assert len(index) == 5 and result.copy_ratio > 0.9; \
assert (STATIC / 'batch.js').is_file() and (TEMPLATES / 'compare.html.j2').is_file(); \
import io, pypdf; pdf = render_pdf(result, text); \
assert '民政' in pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()"
#    ... and that the sandboxed LibreOffice reads a real .rtf, and OCR is installed.
RUN cd / && python -c "from app.core.readers import extract; from app.core.readers.ocr import \
missing; text = extract(b'{\\\\rtf1\\\\ansi \\\\uc1 \\\\u36848?\\\\u32844?}', 'a.rtf').text; \
assert text == '述职', text; assert not missing()"

# 3. A user without privileges, owning only the data folder. The folder is made and handed over
#    before VOLUME, since changes to a volume path after that line are discarded.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/chachong chachong \
    && mkdir -p /data \
    && chown chachong:chachong /data
ENV CHACHONG_DATA=/data
VOLUME ["/data"]
WORKDIR /home/chachong
USER chachong

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["chachong", "serve", "--host", "0.0.0.0", "--port", "8000"]
