// Behaviour of the video pages. It lives in this file, not in the HTML, so that a strict
// Content-Security-Policy (script-src 'self') can be set: elements declare what they do
// with data attributes.
//   data-dash, data-hls            on the video: the adaptive stream, played with Shaka Player
//                                  where Media Source Extensions exist (else the MP4 <source>)
//   data-license-url, data-key-id  on the video: an encrypted stream and where its ClearKey is;
//                                  the playback token from the page's address (#token=) goes with the
//                                  license request as "Authorization: Bearer", never in a URL
//   data-subtitles                 a <select> filled with the stream's subtitle tracks
//   data-seek="12.5"               a click plays the video from 12.5 s
//   data-end="15"                  with data-seek: the transcript line (or chapter) is marked while it plays
//   data-chapters                  on a <track kind="chapters">: kept when the stream replaces the MP4
//   data-sprite, data-xywh="x,y,w,h"  a storyboard tile: its part of the sprite sheet
//   data-scrub, data-scrub-preview the seek bar under the player, previewing the storyboard
//   data-at="12.5"                 a chip placed on the timeline at 12.5 s
//   data-from, data-to             a span of the timeline (an animal on screen), drawn from and to these seconds
// A page address ending in #t=12.5 (a search result's link) starts the video at 12.5 s.
"use strict";

(() => {
  const token = takeToken();
  const video = document.querySelector("video[data-player]");
  if (!video) return;
  const status = document.querySelector("[data-player-status]");
  const say = (text) => { if (status) status.textContent = text; };

  async function adaptive() {
    const { dash, licenseUrl } = video.dataset;
    if (!dash || !window.shaka) return;
    shaka.polyfill.installAll();
    if (!shaka.Player.isBrowserSupported()) return; // keep the MP4
    const player = new shaka.Player();
    window.videoPlayer = player; // for the console and the browser tests
    player.addEventListener("error", (event) => say(`Playback failed: ${event.detail.message || event.detail.code}`));
    if (licenseUrl !== undefined) {
      if (!licenseUrl) {
        say("This video is encrypted and no license server is configured.");
        return;
      }
      player.configure({ drm: { servers: { "org.w3.clearkey": licenseUrl } } });
      const { LICENSE } = shaka.net.NetworkingEngine.RequestType;
      if (token) {
        player.getNetworkingEngine().registerRequestFilter((type, request) => {
          if (type === LICENSE) request.headers.Authorization = `Bearer ${token}`;
        });
      }
    }
    // The stream's WebVTT tracks replace the MP4's subtitle <track>s, so no subtitle shows twice; the
    // chapters track (data-chapters) stays: HLS and DASH have no chapters rendition that players read.
    for (const track of video.querySelectorAll("track:not([data-chapters])")) track.remove();
    try {
      await player.attach(video);
      // DASH; the HLS master (data-hls) lists the same CMAF segments for native HLS players.
      await player.load(new URL(dash, document.baseURI).href);
      subtitleChoice(player);
      video.dataset.adaptive = "true";
      say("");
    } catch (error) {
      say(`Playback failed: ${error.message || error.code}`);
    }
  }
  // The stream's subtitle tracks in a menu, the first one on: the ladder's pictures carry no burned-in text.
  function subtitleChoice(player) {
    const menu = document.querySelector("[data-subtitles]");
    const tracks = player.getTextTracks();
    if (!menu || !tracks.length) return;
    const names = new Intl.DisplayNames([document.documentElement.lang || "en"], { type: "language" });
    const name = (t) => t.label || (t.language ? names.of(t.language) : "Subtitles");
    menu.replaceChildren(new Option("Off", ""), ...tracks.map((t) => new Option(name(t), String(t.id))));
    const choose = () => player.selectTextTrack(tracks.find((t) => String(t.id) === menu.value) || null);
    menu.value = String(tracks[0].id);
    menu.addEventListener("change", choose);
    choose();
    menu.closest("[hidden]")?.removeAttribute("hidden");
  }
  // The playback token, from the address's fragment (#token=), which a browser never sends: not to the
  // site (its access logs), not in a Referer. It leaves the address bar at once, so the history and a
  // link copied from there hold no token; any other part of the fragment (#t=) stays.
  function takeToken() {
    const fragment = new URLSearchParams(window.location.hash.slice(1));
    const found = fragment.get("token");
    if (found === null) return null;
    fragment.delete("token");
    const rest = fragment.toString();
    const { pathname, search } = window.location;
    history.replaceState(history.state, "", `${pathname}${search}${rest ? `#${rest}` : ""}`);
    return found;
  }
  // #t=12.5 (a media fragment, as search results link to a moment): seek there once the video can.
  function seekToFragment() {
    const t = Number(new URLSearchParams(window.location.hash.slice(1)).get("t"));
    if (!Number.isFinite(t) || t <= 0) return;
    const seek = () => { video.currentTime = t; };
    if (video.readyState >= 1) seek();
    else video.addEventListener("loadedmetadata", seek, { once: true });
  }
  // The chapters track's cues load only once it is not disabled: hidden, it lists them (video.textTracks).
  for (const track of video.querySelectorAll("track[data-chapters]")) track.track.mode = "hidden";
  window.addEventListener("hashchange", seekToFragment);
  adaptive().finally(seekToFragment);

  document.addEventListener("click", (event) => {
    const target = event.target.closest("[data-seek]");
    if (!target) return;
    video.currentTime = Number(target.dataset.seek);
    video.play().catch(() => {}); // a browser may refuse to play; the seek still happened
    video.scrollIntoView({ block: "nearest", behavior: "smooth" });
  });

  for (const tile of document.querySelectorAll("[data-sprite][data-xywh]")) {
    const [x, y, w, h] = tile.dataset.xywh.split(",").map(Number);
    tile.style.backgroundImage = `url(${JSON.stringify(tile.dataset.sprite)})`;
    tile.style.backgroundPosition = `${-x}px ${-y}px`;
    tile.style.width = `${w}px`;
    tile.style.height = `${h}px`;
  }

  // The seek bar: follows the video, seeks on input, and shows the storyboard frame under the pointer.
  const timeline = document.querySelector("[data-timeline]");
  const scrub = document.querySelector("[data-scrub]");
  const preview = document.querySelector("[data-scrub-preview]");
  const tiles = [...document.querySelectorAll(".storyboard [data-sprite][data-xywh]")];
  if (timeline && scrub) {
    const duration = Number(timeline.dataset.duration) || 1;
    for (const chip of timeline.querySelectorAll("[data-at]")) {
      chip.parentElement.style.left = `${(100 * Number(chip.dataset.at)) / duration}%`;
    }
    for (const span of timeline.querySelectorAll("[data-from][data-to]")) {
      span.style.left = `${(100 * Number(span.dataset.from)) / duration}%`;
      span.style.width = `${(100 * (Number(span.dataset.to) - Number(span.dataset.from))) / duration}%`;
    }
    video.addEventListener("timeupdate", () => { scrub.value = String(video.currentTime); });
    scrub.addEventListener("input", () => { video.currentTime = Number(scrub.value); });
    const frame = preview?.querySelector(".thumb-frame");
    const label = preview?.querySelector("time");
    scrub.addEventListener("pointermove", (event) => {
      if (!preview || !tiles.length) return;
      const box = scrub.getBoundingClientRect();
      const share = Math.min(Math.max((event.clientX - box.left) / box.width, 0), 1);
      const t = share * duration;
      const tile = tiles.filter((el) => Number(el.dataset.seek) <= t).pop() || tiles[0];
      const [x, y, w, h] = tile.dataset.xywh.split(",").map(Number);
      frame.style.backgroundImage = `url(${JSON.stringify(tile.dataset.sprite)})`;
      frame.style.backgroundPosition = `${-x}px ${-y}px`;
      frame.style.width = `${w}px`;
      frame.style.height = `${h}px`;
      label.textContent = `${Math.floor(t / 60)}:${String(Math.floor(t % 60)).padStart(2, "0")}`;
      preview.style.left = `${share * 100}%`;
      preview.hidden = false;
    });
    scrub.addEventListener("pointerleave", () => { if (preview) preview.hidden = true; });
  }

  // The transcript's line and the chapter that are playing are marked.
  function markPlaying(selector) {
    const lines = [...document.querySelectorAll(selector)];
    let current = null;
    video.addEventListener("timeupdate", () => {
      const t = video.currentTime;
      const line = lines.find((el) => t >= Number(el.dataset.seek) && t < Number(el.dataset.end)) || null;
      if (line === current) return;
      current?.removeAttribute("aria-current");
      line?.setAttribute("aria-current", "true");
      current = line;
    });
  }
  markPlaying(".transcript [data-seek][data-end]");
  markPlaying(".chapters [data-seek][data-end]");
})();
