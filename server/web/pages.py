"""HTML pages of the tablet app. Owner: frontend helper."""

from flask import Blueprint

bp = Blueprint("pages", __name__)
