// Marks a suggestion helpful or wrong through POST /v1/feedback. Without
// JavaScript the buttons stay hidden; searching and reading work without it.
"use strict";

const TOKEN_KEY = "incident-recommender-token";

function showFeedback() {
  const widgets = document.querySelectorAll(".feedback");
  const tokenBox = document.getElementById("feedback-token");
  const tokenInput = document.getElementById("token");
  if (!widgets.length || !tokenBox || !tokenInput) {
    return;
  }
  tokenBox.hidden = false;
  tokenInput.value = sessionStorage.getItem(TOKEN_KEY) || "";
  tokenInput.addEventListener("change", () => {
    sessionStorage.setItem(TOKEN_KEY, tokenInput.value);
  });
  for (const widget of widgets) {
    widget.hidden = false;
    for (const button of widget.querySelectorAll("button[data-verdict]")) {
      button.addEventListener("click", () => sendVerdict(widget, button, tokenInput));
    }
  }
}

async function sendVerdict(widget, button, tokenInput) {
  const status = widget.querySelector(".feedback-status");
  const verdict = button.dataset.verdict;
  const body = {
    record_id: widget.dataset.recordId,
    verdict: verdict,
    target: widget.dataset.target,
  };
  if (widget.dataset.alertname) {
    body.alertname = widget.dataset.alertname;
  }
  if (widget.dataset.fingerprint) {
    body.fingerprint = widget.dataset.fingerprint;
  }
  const headers = { "Content-Type": "application/json" };
  if (tokenInput.value) {
    headers.Authorization = "Bearer " + tokenInput.value;
  }
  status.textContent = "Sending…";
  try {
    const response = await fetch("/v1/feedback", {
      method: "POST",
      headers: headers,
      body: JSON.stringify(body),
    });
    if (response.ok) {
      status.textContent = "Marked " + verdict + ".";
      return;
    }
    const answer = await response.json().catch(() => null);
    const message = answer && answer.error ? answer.error.message : response.statusText;
    status.textContent = "Not saved: " + message;
  } catch (error) {
    status.textContent = "Not saved: the service cannot be reached.";
  }
}

document.addEventListener("DOMContentLoaded", showFeedback);
