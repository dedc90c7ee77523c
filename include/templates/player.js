// Behaviour of the video pages. It lives in this file, not in the HTML, so that a strict
// Content-Security-Policy (script-src 'self') can be set: elements declare what they do
// with data attributes.
//   data-seek="12.5"               a click plays the video from 12.5 s
//   data-end="15"                  with data-seek: the transcript line is marked while it plays
//   data-sprite, data-xywh="x,y,w,h"  a storyboard tile: its part of the sprite sheet
"use strict";

(() => {
  const video = document.querySelector("video[data-player]");
  if (!video) return;

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

  const lines = [...document.querySelectorAll(".transcript [data-seek][data-end]")];
  let current = null;
  video.addEventListener("timeupdate", () => {
    const t = video.currentTime;
    const line = lines.find((el) => t >= Number(el.dataset.seek) && t < Number(el.dataset.end)) || null;
    if (line === current) return;
    current?.removeAttribute("aria-current");
    line?.setAttribute("aria-current", "true");
    current = line;
  });
})();
