// Marks a suggestion helpful or wrong through POST /v1/feedback. Without
// JavaScript the buttons stay hidden; searching and reading work without it.
"use strict";

const TOKEN_KEY = "incident-recommender-token";
const TOKEN_FIELD = "“API token for marking suggestions”";

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
  const token = tokenInput.value.trim();
  if (token) {
    headers.Authorization = "Bearer " + token;
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
    if (response.status === 401) {
      // The API's message names the HTTP header, which a page user never sets.
      status.textContent = tokenMessage(token);
      document.getElementById("feedback-token").open = true;
      return;
    }
    const answer = await response.json().catch(() => null);
    const message = answer && answer.error ? answer.error.message : response.statusText;
    status.textContent = "Not saved: " + message;
  } catch (error) {
    status.textContent = "Not saved: the service cannot be reached.";
  }
}

function tokenMessage(token) {
  if (token) {
    return "Not saved: the token in " + TOKEN_FIELD + " is not valid. Check it " +
      "against INCIDENT_API_TOKENS or INCIDENT_API_TOKEN_FILE of the server.";
  }
  return "Not saved: marking needs an API token. Type it into " + TOKEN_FIELD +
    " at the end of the page, then mark again.";
}

document.addEventListener("DOMContentLoaded", showFeedback);
