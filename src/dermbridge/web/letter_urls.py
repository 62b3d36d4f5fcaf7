"""Letters to post, mounted at letters/ in dermbridge.urls."""

from django.urls import path

from dermbridge.web.views import letters as letter_views

urlpatterns = [
    path("", letter_views.letters_page, name="letters"),
    path("letters.pdf", letter_views.letters_download, name="letters-pdf"),
    path("posted/", letter_views.letters_posted, name="letters-posted"),
]
