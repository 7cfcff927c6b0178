"""Composed reward campaigns: one TOML file, one command, CSV out (see ``data/campaign.toml``)."""

from .config import Campaign, load_campaign
from .runner import CampaignRunner

__all__ = ["Campaign", "CampaignRunner", "load_campaign"]
